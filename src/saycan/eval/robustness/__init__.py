"""The robustness catalogue behind `saycan bench robustness`.

Hostile inputs and faults (bad overrides, hostile task files, broken checkpoints, signals,
full disks, HTTP abuse of `serve-llm`) are data in `assets/robustness/cases.yaml`; each case
says what a user must see (one error line and exit 2, a finished run, exit 130, an HTTP status).
The harness drives only the user-visible surface (the CLI in a child process, files, HTTP on
loopback), so it measures whatever version of the stack it runs against.
"""
