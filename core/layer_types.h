/* The one list of layer types: DPT_LAYER_TYPE(id) for each, id being both the config's type
 * name and the dpt_layer_<id>_type defined in core/layer_<file>.c.  Adding a type is one line
 * here plus its file.  Included only by core/layer.c. */
DPT_LAYER_TYPE(dense)
DPT_LAYER_TYPE(activation)
DPT_LAYER_TYPE(dropout)
DPT_LAYER_TYPE(rnn)
DPT_LAYER_TYPE(lstm)
DPT_LAYER_TYPE(gru)
DPT_LAYER_TYPE(repeat)
DPT_LAYER_TYPE(batch_norm)
