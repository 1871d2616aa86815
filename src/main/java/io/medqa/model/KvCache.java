package io.medqa.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

/**
 * Keys and values of the positions seen so far, per layer, each (batch, kv_heads, length, head_dim),
 * after RoPE. Owned by its own manager so they survive the per-step scopes of generation.
 */
public final class KvCache implements AutoCloseable {

    private final NDManager manager;
    private final NDArray[] keys;
    private final NDArray[] values;
    private int length;

    public KvCache(NDManager parent, int layers) {
        this.manager = parent.newSubManager();
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
    }

    /** Positions already cached: the next token's position. */
    public int length() {
        return length;
    }

    /** Appends this step's keys and values of one layer and returns the whole cached sequence. */
    NDArray[] append(int layer, NDArray k, NDArray v) {
        keys[layer] = extend(keys[layer], k);
        values[layer] = extend(values[layer], v);
        return new NDArray[] {keys[layer], values[layer]};
    }

    private NDArray extend(NDArray old, NDArray step) {
        NDArray next = old == null ? step.duplicate() : old.concat(step, 2);
        NDScope.unregister(next);
        next.attach(manager);
        if (old != null) {
            old.close();
        }
        return next;
    }

    /** Called once per forward, after every layer has appended {@code tokens} positions. */
    void advance(int tokens) {
        length += tokens;
    }

    @Override
    public void close() {
        manager.close();
    }
}
