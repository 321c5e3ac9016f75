/* Per-sample tensor shapes (core/shape.h). */
#include "core/shape.h"

#include <stdio.h>
#include <string.h>

dpt_shape dpt_shape_1d(int d0) {
    return (dpt_shape){.rank = 1, .dim = {d0}, .dtype = DPT_F32};
}

dpt_shape dpt_shape_2d(int d0, int d1) {
    return (dpt_shape){.rank = 2, .dim = {d0, d1}, .dtype = DPT_F32};
}

dpt_shape dpt_shape_3d(int d0, int d1, int d2) {
    return (dpt_shape){.rank = 3, .dim = {d0, d1, d2}, .dtype = DPT_F32};
}

size_t dpt_shape_size(const dpt_shape *s) {
    if (s->rank <= 0) return 0;
    size_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= (size_t)s->dim[i];
    return n;
}

int dpt_shape_last(const dpt_shape *s) {
    return s->rank > 0 ? s->dim[s->rank - 1] : 0;
}

int64_t dpt_shape_outer(const dpt_shape *s) {
    int64_t n = 1;
    for (int i = 0; i + 1 < s->rank; i++) n *= s->dim[i];
    return n;
}

bool dpt_shape_equal(const dpt_shape *a, const dpt_shape *b) {
    if (a->rank != b->rank || a->dtype != b->dtype) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i]) return false;
    return true;
}

dpt_shape dpt_shape_from_steps(int T, int F) {
    return T == 1 ? dpt_shape_1d(F) : dpt_shape_2d(T, F);
}

dpt_shape dpt_shape_with_last(const dpt_shape *s, int n) {
    dpt_shape r = *s;
    if (r.rank > 0) r.dim[r.rank - 1] = n;
    r.dtype = DPT_F32;
    return r;
}

bool dpt_shape_same_rows(const dpt_shape *a, const dpt_shape *b) {
    int lead = a->rank - 1; /* the leading axes that must agree */
    if (a->dtype == DPT_I32 && b->rank == a->rank + 1)
        lead = a->rank; /* (T) ids, one per step, to (T, D) vectors */
    else if (a->rank != b->rank)
        return false;
    for (int i = 0; i < lead; i++)
        if (a->dim[i] != b->dim[i]) return false;
    return true;
}

bool dpt_shape_is_sequence(const dpt_shape *s) {
    return s->rank == 2 && s->dim[0] > 1;
}

const char *dpt_dtype_name(dpt_dtype t) {
    return t == DPT_I32 ? "int32" : "float32";
}

const char *dpt_shape_str(const dpt_shape *s, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < s->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%d", i ? ", " : "", s->dim[i]);
    if (k < n) snprintf(buf + k, n - k, ") %s", dpt_dtype_name(s->dtype));
    return buf;
}

int dpt_shape_check(const dpt_shape *s, char *err, size_t errlen) {
    if (s->rank < 1 || s->rank > DPT_SHAPE_MAX_RANK) {
        snprintf(err, errlen, "expected a shape of 1 to %d dimensions per sample, got %d",
                 DPT_SHAPE_MAX_RANK, s->rank);
        return -1;
    }
    for (int i = 0; i < s->rank; i++)
        if (s->dim[i] < 1) {
            snprintf(err, errlen, "expected every dimension >= 1, got %d in dimension %d",
                     s->dim[i], i);
            return -1;
        }
    if (s->dtype != DPT_F32 && s->dtype != DPT_I32) {
        snprintf(err, errlen, "expected element type float32 or int32");
        return -1;
    }
    return 0;
}
