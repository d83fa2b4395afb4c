"""The tidegate command as users run it: real subprocesses against real daemons."""
