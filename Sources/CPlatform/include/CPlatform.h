#ifndef CPLATFORM_H
#define CPLATFORM_H
/* What Swift cannot do itself: ioctl is variadic, and a signal handler must be
   C (async-signal-safe, capturing nothing). */

/* Columns of the terminal on fd, or 0 when fd is not a terminal. */
int cplatform_terminal_columns(int fd);

/* Installs a SIGINT handler that writes one byte to write_fd per signal (the
   self-pipe trick); 0 on success, else errno. */
int cplatform_sigint_to_pipe(int write_fd);

#endif
