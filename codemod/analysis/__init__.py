"""The questions asked of the program model, one a module; `classify` makes a site's status."""
