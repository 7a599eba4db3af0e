#include "CPlatform.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile int sigint_pipe_fd = -1;

static void on_sigint(int signo) {
    (void)signo;
    int saved = errno;
    char byte = 1;
    if (sigint_pipe_fd >= 0) (void)!write(sigint_pipe_fd, &byte, 1);
    errno = saved;
}

int cplatform_sigint_to_pipe(int write_fd) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigint_pipe_fd = write_fd;
    return sigaction(SIGINT, &action, NULL) == 0 ? 0 : errno;
}
