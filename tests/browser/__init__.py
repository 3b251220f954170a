"""Real-browser tests: JupyterLab in the system Chromium, driven by playwright."""
