"""The project as a whole: packaging, import layers, set-up files, module sizes."""
