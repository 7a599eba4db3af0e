#include "CPlatform.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* One pipe per signal number we handle; the handler writes the signal number. */
static volatile int signal_pipe_fds[65];

static void on_signal(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    if (signo > 0 && signo < 65 && signal_pipe_fds[signo] > 0) (void)!write(signal_pipe_fds[signo], &byte, 1);
    errno = saved;
}

int cplatform_signal_to_pipe(int signo, int write_fd) {
    if (signo <= 0 || signo >= 65) return EINVAL;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    signal_pipe_fds[signo] = write_fd;
    return sigaction(signo, &action, NULL) == 0 ? 0 : errno;
}
