/* Elementwise activation functions, looked up by name.  Each entry gives f and its derivative
 * expressed through the input x and the output y = f(x), so backward can use whichever it has. */
#ifndef DPT_ACTIVATION_H
#define DPT_ACTIVATION_H

typedef struct dpt_activation {
    const char *name;    /* YAML name: sigmoid, tanh, relu, leaky_relu, elu, softplus, arctan,
                            softsign, linear */
    float default_alpha; /* leaky_relu 0.01, elu 1.0, others unused (0) */
    float (*f)(float x, float alpha);
    float (*df)(float x, float y, float alpha); /* dy/dx at x, with y = f(x) */
} dpt_activation;

/* NULL when the name is unknown. */
const dpt_activation *dpt_activation_find(const char *name);
/* NULL-terminated list of names, for error messages. */
const char *const *dpt_activation_names(void);

#endif
