#ifndef CPLATFORM_H
#define CPLATFORM_H
/* What Swift cannot do itself: ioctl is variadic, and a signal handler must be
   C (async-signal-safe, capturing nothing). */

/* Columns of the terminal on fd, or 0 when fd is not a terminal. */
int cplatform_terminal_columns(int fd);

/* Installs a handler for signo that writes the signal number, as one byte, to
   write_fd each time the signal arrives (the self-pipe trick); 0 on success,
   else errno. */
int cplatform_signal_to_pipe(int signo, int write_fd);

#endif
