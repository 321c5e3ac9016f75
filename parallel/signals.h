/* Stop requests: SIGTERM and SIGUSR1 (Slurm's time limit and --signal=USR1@N) and SIGINT set a
 * flag; the trainer reduces it across ranks with the next step's gradients, so every rank stops
 * after the same step, rank 0 writes a checkpoint and the job exits with DPT_EXIT_STOPPED. */
#ifndef DPT_SIGNALS_H
#define DPT_SIGNALS_H

/* Installs the handlers (sigaction, SA_RESTART: an MPI call in progress is not interrupted). */
void dpt_signals_install(void);
/* The number of the first stop signal received, or 0. */
int dpt_signal_pending(void);

#endif
