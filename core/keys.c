/* The generic half of declared keys: text -> field with the range checks and the messages the
 * config has always given, field -> text for diffs and canonical text.  Every key of every layer
 * type and of the config goes through these few functions, defaults included. */
#include "core/keys.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

static void *field_of(const dpt_key *k, void *base) {
    return (char *)base + k->offset;
}

static const void *cfield_of(const dpt_key *k, const void *base) {
    return (const char *)base + k->offset;
}

static const char *range_desc(dpt_key_range r) {
    switch (r) {
    case DPT_RANGE_GT0:
        return "a number > 0";
    case DPT_RANGE_GE0:
        return "a number >= 0";
    case DPT_RANGE_UNIT:
        return "a number in [0, 1)";
    case DPT_RANGE_GAMMA:
        return "a number in (0, 1]";
    default:
        return "a number";
    }
}

static bool in_range(double v, dpt_key_range r) {
    switch (r) {
    case DPT_RANGE_GT0:
        return v > 0;
    case DPT_RANGE_GE0:
        return v >= 0;
    case DPT_RANGE_UNIT:
        return v >= 0 && v < 1;
    case DPT_RANGE_GAMMA:
        return v > 0 && v <= 1;
    default:
        return true;
    }
}

/* strtod on the whole text; "inf", "nan" and hex are refused (only [0-9+-.eE] allowed). */
static bool parse_double(const char *s, double *out) {
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s)) return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || end == s || errno == ERANGE || !isfinite(d)) return false;
    *out = d;
    return true;
}

static bool parse_int(const char *s, long long *out) {
    double d;
    if (!parse_double(s, &d)) return false;
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = i;
        return true;
    }
    /* "1e3" or "10.0": fine as long as it is integral and exactly representable */
    if (d != floor(d) || fabs(d) > 9.0e15) return false;
    *out = (long long)d;
    return true;
}

/* 1 / 0, or -1 for text that is not a boolean. */
static int parse_bool(const char *s) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) return 1;
        if (strcasecmp(s, no[i]) == 0) return 0;
    }
    return -1;
}

/* Index of s in names, or -1. */
static int name_index(const char *const *names, const char *s) {
    for (int i = 0; names && names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static long long int_max(const dpt_key *k) {
    if (k->hi) return k->hi;
    return k->kind == DPT_KEY_U64 ? LLONG_MAX : INT_MAX;
}

static int parse_integer(const dpt_key *k, void *f, const char *text, const char *shown, char *err,
                         size_t errlen) {
    long long i;
    if (!text || !parse_int(text, &i) || i < k->lo)
        return dpt_err(err, errlen, "expected an integer >= %lld, got %s", k->lo, shown);
    if (i > int_max(k))
        return dpt_err(err, errlen, "expected an integer <= %lld, got %s", int_max(k), shown);
    if (k->kind == DPT_KEY_U64)
        *(uint64_t *)f = (uint64_t)i;
    else
        *(int *)f = (int)i;
    return 0;
}

static int parse_number(const dpt_key *k, void *f, const char *text, const char *shown, char *err,
                        size_t errlen) {
    double d;
    const char *want = k->what ? k->what : range_desc(k->range);
    bool ok = text && parse_double(text, &d);
    if (ok && k->kind == DPT_KEY_FLOAT)
        ok = fabs(d) <= (double)FLT_MAX && in_range((float)d, k->range);
    if (ok && k->kind == DPT_KEY_DOUBLE) ok = in_range(d, k->range);
    if (!ok) return dpt_err(err, errlen, "expected %s, got %s", want, shown);
    if (k->kind == DPT_KEY_FLOAT)
        *(float *)f = (float)d;
    else
        *(double *)f = d;
    return 0;
}

static int parse_boolean(const dpt_key *k, void *f, const char *text, const char *shown, char *err,
                         size_t errlen) {
    int v = text ? parse_bool(text) : -1;
    if (k->kind == DPT_KEY_BOOL_AUTO) {
        if (text && strcasecmp(text, "auto") == 0)
            v = -1;
        else if (v < 0)
            return dpt_err(err, errlen, "expected a boolean or 'auto', got %s", shown);
        *(int *)f = v;
        return 0;
    }
    if (v < 0) return dpt_err(err, errlen, "expected a boolean (true/false), got %s", shown);
    *(bool *)f = v == 1;
    return 0;
}

static int parse_string(const dpt_key *k, void *f, const char *text, const char *shown, char *err,
                        size_t errlen) {
    const char *what = k->what ? k->what : "a text";
    if (!text) return dpt_err(err, errlen, "expected %s, got %s", what, shown);
    if ((k->flags & DPT_KEY_NONEMPTY) && !*text)
        return dpt_err(err, errlen, "expected %s (non-empty), got %s", what, shown);
    if (strlen(text) >= k->size)
        return dpt_err(err, errlen, "expected %s of at most %zu characters, got %zu", what,
                       k->size - 1, strlen(text));
    memcpy(f, text, strlen(text) + 1);
    return 0;
}

static int parse_name(const dpt_key *k, void *f, const char *text, const char *shown, char *err,
                      size_t errlen) {
    const char *const *names = k->names();
    int i = text ? name_index(names, text) : -1;
    bool fits = k->kind == DPT_KEY_CHOICE || (text && strlen(text) < k->size);
    if (i < 0 || !*text || !fits) {
        char list[512];
        return dpt_err(err, errlen, "expected one of: %s; got %s",
                       dpt_join_names(list, sizeof list, names), shown);
    }
    if (k->kind == DPT_KEY_NAME)
        memcpy(f, text, strlen(text) + 1);
    else if (k->size == sizeof(bool))
        *(bool *)f = i != 0;
    else
        *(int *)f = i;
    return 0;
}

/* Splits "[a, b]" / "a,b" / "a" into at most max integers; returns how many, -1 on bad text. */
static int split_ints(const char *text, long long *v, int max) {
    char buf[128];
    size_t len = strlen(text);
    if (len >= sizeof buf) return -1;
    memcpy(buf, text, len + 1);
    char *s = buf;
    while (*s == ' ') s++;
    bool open = *s == '[';
    if (open) s++;
    char *end = s + strlen(s);
    while (end > s && end[-1] == ' ') end--;
    if (open != (end > s && end[-1] == ']')) return -1;
    if (open) end--;
    *end = '\0';
    int n = 0;
    for (char *tok = s;; n++) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        while (*tok == ' ') tok++;
        char *te = tok + strlen(tok);
        while (te > tok && te[-1] == ' ') *--te = '\0';
        if (n >= max || !parse_int(tok, &v[n])) return -1;
        if (!comma) return n + 1;
        tok = comma + 1;
    }
}

/* "an integer >= 1 or a list of 2" (or "... of 1 to 3" for DPT_KEY_UPTO; just "an integer >= 0"
 * for one slot), without the names. */
static const char *ints_expect(const dpt_key *k, char *buf, size_t n) {
    int count = (int)(k->size / sizeof(int));
    if (k->flags & DPT_KEY_UPTO)
        snprintf(buf, n, "an integer >= %lld or a list of 1 to %d", k->lo, count);
    else if (count == 1)
        snprintf(buf, n, "an integer >= %lld", k->lo);
    else
        snprintf(buf, n, "an integer >= %lld or a list of %d", k->lo, count);
    return buf;
}

static int parse_ints(const dpt_key *k, void *f, const char *text, const char *shown, char *err,
                      size_t errlen) {
    int count = (int)(k->size / sizeof(int)), *out = f;
    bool upto = k->flags & DPT_KEY_UPTO;
    const char *const *names = k->names ? k->names() : NULL;
    int named = text && names ? name_index(names, text) : -1;
    if (named >= 0) {
        for (int i = 0; i < count; i++) out[i] = -(named + 1);
        return 0;
    }
    long long v[8];
    int n = text ? split_ints(text, v, count < 8 ? count : 8) : -1;
    bool ok = n == 1 || n == count || (upto && n >= 1);
    for (int i = 0; ok && i < n; i++) ok = v[i] >= k->lo && v[i] <= int_max(k);
    if (!ok) {
        char want[256], list[160];
        size_t len = strlen(ints_expect(k, want, sizeof want));
        if (names)
            snprintf(want + len, sizeof want - len, "%s one of: %s", count > 1 ? ", or" : " or",
                     dpt_join_names(list, sizeof list, names));
        const char *sep = names && !k->what ? ";" : ",";
        return dpt_err(err, errlen, "expected %s%s got %s", k->what ? k->what : want, sep, shown);
    }
    for (int i = 0; i < count; i++)
        out[i] = upto ? (i < n ? (int)v[i] : 0) : (int)v[n == 1 ? 0 : i];
    return 0;
}

/* The quoted text, as the config's messages show a scalar. */
static const char *quoted(const char *text, char *buf, size_t n) {
    if (!text) return "a list or a mapping";
    if (!*text) return "nothing";
    if (strlen(text) > 80)
        snprintf(buf, n, "'%.77s...'", text);
    else
        snprintf(buf, n, "'%s'", text);
    return buf;
}

int dpt_key_parse(const dpt_key *k, void *base, const char *text, const char *shown, char *err,
                  size_t errlen) {
    char b[96];
    void *f = field_of(k, base);
    if (!shown) shown = quoted(text, b, sizeof b);
    switch (k->kind) {
    case DPT_KEY_INT:
    case DPT_KEY_U64:
        return parse_integer(k, f, text, shown, err, errlen);
    case DPT_KEY_FLOAT:
    case DPT_KEY_DOUBLE:
        return parse_number(k, f, text, shown, err, errlen);
    case DPT_KEY_BOOL:
    case DPT_KEY_BOOL_AUTO:
        return parse_boolean(k, f, text, shown, err, errlen);
    case DPT_KEY_STRING:
        return parse_string(k, f, text, shown, err, errlen);
    case DPT_KEY_NAME:
    case DPT_KEY_CHOICE:
        return parse_name(k, f, text, shown, err, errlen);
    case DPT_KEY_INTS:
        return parse_ints(k, f, text, shown, err, errlen);
    }
    return dpt_err(err, errlen, "key kind %d unknown", (int)k->kind);
}

void dpt_key_format_float(float v, char *buf, size_t n) {
    if (isnan(v)) {
        snprintf(buf, n, "default");
        return;
    }
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, n, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) return;
    }
}

/* "same" for a name, "3" when every slot is equal, else "[3, 5]"; DPT_KEY_UPTO: the list up to
 * its last non-zero slot ("[784]", "[28, 28, 1]"). */
static void format_ints(const dpt_key *k, const int *v, char *buf, size_t n) {
    int count = (int)(k->size / sizeof(int));
    if (v[0] < 0 && k->names) {
        snprintf(buf, n, "%s", k->names()[-v[0] - 1]);
        return;
    }
    bool same = !(k->flags & DPT_KEY_UPTO);
    for (int i = 1; i < count; i++) same = same && v[i] == v[0];
    if (same) {
        snprintf(buf, n, "%d", v[0]);
        return;
    }
    if (k->flags & DPT_KEY_UPTO)
        while (count > 1 && v[count - 1] == 0) count--;
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < count && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%d", i ? ", " : "", v[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

static const char *bool_text(int v) {
    return v < 0 ? "auto" : v ? "true" : "false";
}

void dpt_key_format(const dpt_key *k, const void *base, char *buf, size_t n) {
    const void *f = cfield_of(k, base);
    switch (k->kind) {
    case DPT_KEY_INT:
        snprintf(buf, n, "%d", *(const int *)f);
        return;
    case DPT_KEY_U64:
        snprintf(buf, n, "%lld", (long long)*(const uint64_t *)f);
        return;
    case DPT_KEY_FLOAT:
        dpt_key_format_float(*(const float *)f, buf, n);
        return;
    case DPT_KEY_DOUBLE: /* shown at float precision, as the diffs always have */
        dpt_key_format_float((float)*(const double *)f, buf, n);
        return;
    case DPT_KEY_BOOL:
        snprintf(buf, n, "%s", bool_text(*(const bool *)f));
        return;
    case DPT_KEY_BOOL_AUTO:
        snprintf(buf, n, "%s", bool_text(*(const int *)f));
        return;
    case DPT_KEY_STRING:
    case DPT_KEY_NAME:
        snprintf(buf, n, "%s", (const char *)f);
        return;
    case DPT_KEY_CHOICE: {
        int i = k->size == sizeof(bool) ? (int)*(const bool *)f : *(const int *)f;
        snprintf(buf, n, "%s", k->names()[i]);
        return;
    }
    case DPT_KEY_INTS:
        format_ints(k, f, buf, n);
        return;
    }
    DPT_ASSERT(!"key kind unknown");
}

int dpt_key_defaults(const dpt_key *keys, int n, void *base, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        const dpt_key *k = &keys[i];
        if (k->kind == DPT_KEY_FLOAT && (k->flags & DPT_KEY_NAN_UNSET))
            *(float *)field_of(k, base) = NAN;
        if (!k->def) continue;
        char msg[768];
        if (dpt_key_parse(k, base, k->def, NULL, msg, sizeof msg))
            return dpt_err(err, errlen, "%s: default: %s", k->name, msg);
    }
    return 0;
}

const dpt_key *dpt_key_find(const dpt_key *keys, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i].name, name) == 0) return &keys[i];
    return NULL;
}

const char *dpt_key_expect(const dpt_key *k, char *buf, size_t n) {
    if (k->what) return k->what;
    switch (k->kind) {
    case DPT_KEY_INT:
    case DPT_KEY_U64:
        snprintf(buf, n, "an integer >= %lld", k->lo);
        if (k->hi) snprintf(buf + strlen(buf), n - strlen(buf), " and <= %lld", k->hi);
        return buf;
    case DPT_KEY_FLOAT:
    case DPT_KEY_DOUBLE:
        return range_desc(k->range);
    case DPT_KEY_BOOL:
        return "a boolean (true/false)";
    case DPT_KEY_BOOL_AUTO:
        return "a boolean or 'auto'";
    case DPT_KEY_STRING:
        return "a text";
    case DPT_KEY_INTS:
        return ints_expect(k, buf, n);
    case DPT_KEY_NAME:
    case DPT_KEY_CHOICE: {
        int len = snprintf(buf, n, "one of: ");
        dpt_join_names(buf + len, n - (size_t)len, k->names());
        return buf;
    }
    }
    return "a value";
}
