"""Trainers for the shipped learned models (`saycan train NAME`); they sit beside `eval/`,
above the simulator and the skills whose attempts they learn from."""
