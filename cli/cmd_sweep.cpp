// cmd_sweep
