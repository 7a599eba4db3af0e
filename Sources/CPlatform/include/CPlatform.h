#ifndef CPLATFORM_H
#define CPLATFORM_H
/* What Swift cannot do itself: ioctl is variadic, a signal handler must be
   C (async-signal-safe, capturing nothing), and glibc's mallopt is not
   imported. */

/* Columns of the terminal on fd, or 0 when fd is not a terminal. */
int cplatform_terminal_columns(int fd);

/* Installs a handler for signo that writes the signal number, as one byte, to
   write_fd each time the signal arrives (the self-pipe trick); 0 on success,
   else errno. */
int cplatform_signal_to_pipe(int signo, int write_fd);

/* How much freed memory at the top of a malloc arena glibc keeps before giving
   it back to the system (M_TRIM_THRESHOLD); 1 on success, 0 where unsupported. */
int cplatform_set_trim_threshold(long bytes);

/* The most malloc arenas glibc creates (M_ARENA_MAX); 1 on success, 0 where
   unsupported. */
int cplatform_set_arena_max(int count);

#endif
