"""Recording, replay and the session report: what QA needs after the day is over."""
