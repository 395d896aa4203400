"""Layer 6, proactive monitoring (SPEC §8): schedules and slots, jobs, the crontab block, monitors, alerts."""
