package io.medqa.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.medqa.data.MicroBatch;
import io.medqa.model.Casts;
import io.medqa.model.Qwen3Model;
import io.medqa.model.Tensors;

import java.util.List;

/** Cross-entropy on answer tokens only, with the LM head applied to those positions alone. */
public final class LossFunctions {

    private LossFunctions() {}

    /**
     * Sum over the micro-batch's answer tokens of -log p(target). The hidden states of the target
     * positions are gathered first, so the head computes (targets, vocab) logits, never
     * (tokens, vocab); log-softmax runs in fp32.
     *
     * @return a scalar (fp32, or fp64 for an fp64 model), attached to the graph when gradients are being collected
     */
    public static NDArray answerNll(Qwen3Model model, NDManager m, MicroBatch mb, boolean training) {
        int hidden = model.config().hiddenSize();
        int n = mb.targetCount();
        NDArray ids = Tensors.fromHost(m, mb.ids(), new Shape(mb.rows(), mb.length()));
        NDArray states = model.forward(ids, null, training).reshape((long) mb.rows() * mb.length(), hidden);
        NDArray rows = Tensors.fromHost(m, mb.positions(), new Shape(n, 1)).broadcast(n, hidden);
        NDArray selected = states.gather(rows, 0); // (targets, hidden)
        NDArray logProbs = Casts.atLeastFp32(model.logits(selected)).logSoftmax(1);
        NDArray targets = Tensors.fromHost(m, mb.targets(), new Shape(n, 1));
        return logProbs.gather(targets, 1).sum().neg();
    }

    /** Mean answer-token NLL over batches, without gradients; one host read at the end. */
    public static double meanAnswerNll(Qwen3Model model, List<MicroBatch> batches) {
        int targets = 0;
        try (NDManager outer = model.manager().newSubManager()) {
            NDList sums = new NDList();
            for (MicroBatch mb : batches) {
                try (NDManager m = outer.newSubManager(); NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray s = answerNll(model, m, mb, false);
                    NDScope.unregister(s);
                    s.attach(outer);
                    sums.add(s);
                }
                targets += mb.targetCount();
            }
            return NDArrays.stack(sums).sum().getFloat() / targets;
        }
    }
}
