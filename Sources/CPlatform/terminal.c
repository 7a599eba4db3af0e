#include "CPlatform.h"
#include <sys/ioctl.h>
#include <unistd.h>

int cplatform_terminal_columns(int fd) {
    struct winsize size;
    if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &size) != 0) return 0;
    return size.ws_col;
}
