/* The process-wide HDF5 lock (io/h5lock.h). */
#include "io/h5lock.h"

#include <pthread.h>

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;

void dpt_h5_lock(void) {
    pthread_mutex_lock(&h5_mutex);
}

void dpt_h5_unlock(void) {
    pthread_mutex_unlock(&h5_mutex);
}
