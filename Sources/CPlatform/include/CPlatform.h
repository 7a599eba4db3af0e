#ifndef CPLATFORM_H
#define CPLATFORM_H
/* Terminal queries Swift cannot make itself (ioctl is variadic). */

/* Columns of the terminal on fd, or 0 when fd is not a terminal. */
int cplatform_terminal_columns(int fd);

#endif
