// cmd_bound
