/* Private to the recurrent layers (layer_recurrent.c): the per-time-step cell math of rnn, lstm
 * and gru on one direction's buffers.  The driver does every matrix product; a cell only does the
 * elementwise gate work of one step for B rows, on the calling thread (the driver splits rows
 * among threads). */
#ifndef DPT_RECURRENT_H
#define DPT_RECURRENT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum dpt_cell_kind {
    DPT_CELL_RNN_TANH,
    DPT_CELL_RNN_RELU,
    DPT_CELL_LSTM,
    DPT_CELL_GRU,
} dpt_cell_kind;

/* Gates per unit of a cell kind: 1 (rnn), 4 (lstm: i, f, g, o), 3 (gru: r, z, n). */
int dpt_cell_gates(dpt_cell_kind kind);

/* Views of one time step t of one direction, for B rows.  Row b of a view is at p + b * ld.
 * Gate blocks are G*H wide, in PyTorch's gate order; H-wide views are states.  Only the fields
 * a kind uses are read (marked rnn/lstm/gru). */
typedef struct dpt_cell_step {
    dpt_cell_kind kind;
    int B, H;
    int t;                  /* time index of this step */
    const int32_t *lengths; /* (B) valid steps per row, NULL = all; rows with t >= len are
                               padding: the state is carried, outputs and gradients are 0 */
    float *g;               /* (B, GH) ld_g: in forward the pre-activations without biases (the
                               recurrent product added for rnn/lstm), replaced by the activated
                               gates (left as they are on padding); read in backward */
    float *hp;              /* (B, GH) ld_g, gru: W_hh h_prev (forward), dHP (backward) */
    float *hpn;             /* (B, H) ld_h, gru: W_hn h_prev + b_hn, kept for backward */
    int ld_g, ld_h;
    const float *bx;   /* (GH) added to the input part of every gate: b_ih, + b_hh for
                          rnn/lstm (zeros without bias) */
    const float *bh;   /* (GH) gru: b_hh (zeros without bias) */
    const float *h_in; /* (B, H) ld_h: state entering the step */
    const float *c_in; /* (B, H) ld_h, lstm: cell state entering the step */
    float *h_out;      /* (B, H) ld_out: state after the step (carried on padding) */
    float *c_out;      /* (B, H) ld_out, lstm */
    int ld_out;
    float *y;        /* (B, H) ld_y: output of the step (0 on padding), NULL = not wanted */
    const float *dy; /* (B, H) ld_y, backward: d loss / d y of the step, NULL = none */
    int ld_y;
    float *dg; /* (B, GH) ld_g, backward: d loss / d gate pre-activations (dXP) */
    float *dh; /* (B, H) contiguous, backward: d loss / d h_out on entry; on return the
                  part of d loss / d h_in that does not go through W_hh */
    float *dc; /* (B, H) contiguous, lstm backward: d / d c_out in, d / d c_in out */
} dpt_cell_step;

/* Activates the gates of step s->t in place and writes h_out (c_out, hpn, y). */
void dpt_cell_forward(const dpt_cell_step *s);

/* Gate gradients of step s->t from dh (+ dy) and the stored gates: writes dg (and hp for gru),
 * replaces dh (dc) as described above. */
void dpt_cell_backward(const dpt_cell_step *s);

#endif
