/* Chrome trace files (chrome://tracing, Perfetto: "JSON trace event format"): one file per rank
 * with the phases of every step on the main, communication and I/O threads.  Written as the run
 * goes (events are appended after each epoch) under a temporary name that becomes the real one
 * when the run ends (docs/running.md). */
#ifndef DPT_TRACE_FILE_H
#define DPT_TRACE_FILE_H

#include <stdio.h>

#include "core/trace.h"

typedef struct dpt_trace_file {
    FILE *f;
    char path[4096], tmp[4200];
    int pid;       /* the rank */
    double origin; /* dpt_now_s() of time 0 in the file */
    long events;
} dpt_trace_file;

/* Creates the temporary file and writes the header with thread names.  Returns 0 or -1. */
int dpt_trace_file_open(dpt_trace_file *tf, const char *path, int rank, double origin, char *err,
                        size_t errlen);
/* Appends t's recorded events (the caller then clears them). */
void dpt_trace_file_add(dpt_trace_file *tf, const dpt_trace *t);
/* Finishes the JSON, fsyncs and renames to the real name.  Returns 0 or -1. */
int dpt_trace_file_close(dpt_trace_file *tf, char *err, size_t errlen);

#endif
