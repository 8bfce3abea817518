"""Readiness bits shared by every poller backend (the values of Linux's EPOLLIN/EPOLLOUT)."""

READ = 0x001
WRITE = 0x004
HANGUP = 0x010  # also reported as readable and writable: the next recv/send tells what happened

__all__ = ["HANGUP", "READ", "WRITE"]
