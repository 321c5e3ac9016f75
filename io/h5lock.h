/* One process-wide lock for HDF5 calls.  The HDF5 library dptrain links is the MPI build, which
 * is not thread-safe: while the streaming thread (io/stream.h) reads, every HDF5 call of the
 * process is made holding this lock. */
#ifndef DPT_H5LOCK_H
#define DPT_H5LOCK_H

void dpt_h5_lock(void);
void dpt_h5_unlock(void);

#endif
