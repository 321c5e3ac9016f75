/* Chrome trace files (chrome://tracing, Perfetto: "JSON trace event format"): one file per rank
 * with the phases of every step on the main, communication and I/O threads.  Written as the run
 * goes (events are appended after each epoch) through the atomic writer (io/fs.h): under a
 * temporary name that becomes the real one when the run ends (docs/running.md). */
#ifndef DPT_TRACE_FILE_H
#define DPT_TRACE_FILE_H

#include <stdio.h>

#include "core/trace.h"
#include "io/fs.h"

typedef struct dpt_trace_file {
    dpt_atomic out; /* out.f: the temporary file, NULL when not open */
    int pid;        /* the rank */
    double origin;  /* dpt_now_s() of time 0 in the file */
    long events;
} dpt_trace_file;

/* Creates the temporary file and writes the header with thread names.  Returns 0 or -1. */
int dpt_trace_file_open(dpt_trace_file *tf, const char *path, int rank, double origin, char *err,
                        size_t errlen);
/* Appends t's recorded events (the caller then clears them). */
void dpt_trace_file_add(dpt_trace_file *tf, const dpt_trace *t);
/* Finishes the JSON and commits the file (dpt_atomic_commit).  Returns 0 or -1. */
int dpt_trace_file_close(dpt_trace_file *tf, char *err, size_t errlen);

#endif
