/* Stop-request flag set from signal handlers; everything else happens at the next step boundary
 * in the trainer, outside the handler. */
#include "parallel/signals.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t pending; /* first stop signal, 0 if none */

static void on_signal(int sig) {
    if (!pending) pending = sig;
}

void dpt_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

int dpt_signal_pending(void) {
    return pending;
}
