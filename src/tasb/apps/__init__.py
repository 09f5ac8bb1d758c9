"""The commands: one module each, owning its config, its run function and its typer command."""
