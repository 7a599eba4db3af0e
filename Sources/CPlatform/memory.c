#include "CPlatform.h"

/* Any libc header first: glibc's <features.h> defines __GLIBC__, which the
   checks below need (without it every function here did nothing). */
#include <stdlib.h>

#if defined(__GLIBC__)
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#endif

int cplatform_set_trim_threshold(long bytes) {
#if defined(__GLIBC__)
    return mallopt(M_TRIM_THRESHOLD, (int)bytes);
#else
    (void)bytes;
    return 0;
#endif
}

int cplatform_set_arena_max(int count) {
#if defined(__GLIBC__)
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}

int cplatform_reexec_with_tunables(char *const argv[], const char *name, const char *tunables) {
#if defined(__GLIBC__) && defined(__linux__)
    /* Once only, whatever glibc makes of the variable. */
    if (getenv("CPLATFORM_REEXECUTED")) return 0;
    const char *current = getenv("GLIBC_TUNABLES");
    if (current && strstr(current, name)) return 0;
    char *previous = current ? strdup(current) : NULL;
    size_t size = (current ? strlen(current) + 1 : 0) + strlen(tunables) + 1;
    char *value = malloc(size);
    if (!value || (current && !previous)) {
        free(value);
        free(previous);
        return ENOMEM;
    }
    if (current && *current) {
        snprintf(value, size, "%s:%s", current, tunables);
    } else {
        snprintf(value, size, "%s", tunables);
    }
    int error = 0;
    if (setenv("GLIBC_TUNABLES", value, 1) == 0 && setenv("CPLATFORM_REEXECUTED", "1", 1) == 0) {
        execv("/proc/self/exe", argv);
        error = errno;
        if (previous) setenv("GLIBC_TUNABLES", previous, 1); else unsetenv("GLIBC_TUNABLES");
        unsetenv("CPLATFORM_REEXECUTED");
    } else {
        error = errno;
    }
    free(value);
    free(previous);
    return error;
#else
    (void)argv;
    (void)name;
    (void)tunables;
    return 0;
#endif
}
