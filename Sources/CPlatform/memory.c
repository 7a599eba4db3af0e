#include "CPlatform.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int cplatform_set_trim_threshold(long bytes) {
#if defined(__GLIBC__)
    return mallopt(M_TRIM_THRESHOLD, (int)bytes);
#else
    (void)bytes;
    return 0;
#endif
}
