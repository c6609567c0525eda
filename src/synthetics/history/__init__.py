"""History: what every run saw, recorded; the alert rules judged over it; where alerts go; the
heartbeat."""
