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

/* glibc reads some allocator settings only from GLIBC_TUNABLES, at start.
   Unless GLIBC_TUNABLES already names `name`, appends `tunables` to it and
   executes this program again (/proc/self/exe, same argv, same process id),
   with CPLATFORM_REEXECUTED=1 so that it happens once at most: returns only
   when that did not happen (0: named already, done already, or unsupported;
   else the errno of the failed exec, with the environment as it was). */
int cplatform_reexec_with_tunables(char *const argv[], const char *name, const char *tunables);

#endif
