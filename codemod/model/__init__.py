"""What the repository is: its files, their modules and what each module says, resolved."""
