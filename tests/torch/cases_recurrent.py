"""rnn, lstm, gru (one direction and bidirectional, all steps or the last) against torch.nn's
modules with dptrain's tensors copied in: same names, shapes and gate order as PyTorch."""
import torch

MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def recurrent(kind, F, H, bidirectional, seq):
    def run(x, p):
        m = MODULES[kind](F, H, batch_first=True, bidirectional=bidirectional).double()
        for name, _ in list(m.named_parameters()):
            ours = name.replace("weight_", "W_").replace("bias_", "b_").replace("_l0", "")
            delattr(m, name)  # the module computes with our tensors: their .grad is what we check
            setattr(m, name, p[ours])
        y, _ = m(x)
        return y if seq else torch.cat([y[:, -1, :H], y[:, 0, H:]], 1) if bidirectional else y[:, -1]
    return run


CASES = []
for kind in ("rnn", "lstm", "gru"):
    for bi in (False, True):
        for seq in (False, True):
            CASES.append({
                "name": "%s%s%s" % (kind, "_bi" if bi else "", "_seq" if seq else "_last"),
                "spec": "%s units=4 bidirectional=%s return_sequences=%s" % (
                    kind, "true" if bi else "false", "true" if seq else "false"),
                "shape": "5,3", "B": 3, "torch": recurrent(kind, 3, 4, bi, seq)})
