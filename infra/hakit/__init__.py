"""hakit: one typed model of high-availability intent, deployed with Pulumi or rendered for bare metal."""

__version__ = "0.1.0"
