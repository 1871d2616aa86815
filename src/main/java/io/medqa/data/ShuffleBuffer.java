package io.medqa.data;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;

/**
 * A streaming shuffle with a fixed-size buffer (as tf.data and Hugging Face streaming datasets do):
 * fill the buffer, then emit a random element and put the next input in its place. A buffer at least as
 * large as the dataset gives a uniform permutation. Deterministic in the seed.
 */
public final class ShuffleBuffer<T> implements Iterator<T> {

    private final Iterator<T> source;
    private final List<T> buffer;
    private final int capacity;
    private final Random random;

    public ShuffleBuffer(Iterator<T> source, int capacity, long seed) {
        this.source = source;
        this.capacity = capacity;
        this.buffer = new ArrayList<>(Math.min(capacity, 1 << 16));
        this.random = new Random(seed);
    }

    @Override
    public boolean hasNext() {
        while (buffer.size() < capacity && source.hasNext()) {
            buffer.add(source.next());
        }
        return !buffer.isEmpty();
    }

    @Override
    public T next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        int i = random.nextInt(buffer.size());
        T out = buffer.get(i);
        T last = buffer.remove(buffer.size() - 1);
        if (i < buffer.size()) {
            buffer.set(i, last);
        }
        return out;
    }
}
