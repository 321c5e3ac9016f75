/* The one table of the config's keys outside model.layers (a layer's keys are declared by its
 * type, core/layer_<type>.c): path, kind, field of dpt_config, range, default, whether a resume
 * must keep it, help.  Private to the config units (io/config*.c). */
#ifndef DPT_CONFIG_KEYS_H
#define DPT_CONFIG_KEYS_H

#include "core/keys.h"

/* A row read and shown by explicit code in io/config*.c (a list, a value spread over fields);
 * the table still gives its place, help and resume rule. */
#define DPT_CONFIG_KEY_EXPLICIT 0x100u

/* The rows (n), in the order the training diff lists them; each section's rows in the order
 * its "allowed keys" message lists them. */
const dpt_key *dpt_config_keys(int *n);
/* The row of a key path ("training.epochs", "loss"), or NULL. */
const dpt_key *dpt_config_key(const char *path);
/* The top-level sections in reading order, NULL-terminated. */
const char *const *dpt_config_sections(void);
/* The part of a row's path after its section ("epochs" of "training.epochs"; "loss" of "loss"). */
const char *dpt_config_key_leaf(const dpt_key *k);
/* Whether row k belongs to section sec. */
bool dpt_config_key_in(const dpt_key *k, const char *sec);

#endif
