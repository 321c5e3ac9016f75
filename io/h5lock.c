/* The HDF5 library dptrain links is the MPI build, which is not thread-safe: while the
 * streaming thread reads, every HDF5 call of the process is serialised by this lock. */
#include <pthread.h>

#include "io/h5data.h"

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;

void dpt_h5_lock(void) {
    pthread_mutex_lock(&h5_mutex);
}

void dpt_h5_unlock(void) {
    pthread_mutex_unlock(&h5_mutex);
}
