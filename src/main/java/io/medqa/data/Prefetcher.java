package io.medqa.data;

/**
 * Items of a {@link Source} made one ahead on a daemon thread, as a PyTorch DataLoader worker with
 * prefetching does: while the consumer works on item k, the thread makes item k + 1, then waits until
 * k + 1 is taken. At most one item is ever made and not yet taken.
 *
 * <p>Whatever the source throws while making an item is thrown, as the same exception object, by the
 * {@link #next()} that would have returned that item; items before it are handed out first. The
 * source is used by the thread only (it must hold no state another thread touches) and is closed by
 * {@link #close()} once the thread has ended, so after close no thread and no open file remain.
 */
public final class Prefetcher<T> implements AutoCloseable {

    /** What the thread calls; confined to it until {@link Prefetcher#close()} closes it. */
    public interface Source<T> extends AutoCloseable {
        /** The next item, or null when there are no more. */
        T next();

        /**
         * Called from the consumer's thread by {@link Prefetcher#close()}: a {@link #next()} under way
         * should stop soon (throwing anything; it is discarded).
         */
        default void cancel() {}

        @Override
        void close();
    }

    private final Source<T> source;
    private final Thread thread;
    private final Object lock = new Object();
    // Guarded by lock.
    private T ready;
    private Throwable failure;
    private boolean ended;
    private boolean closed;

    /** Starts the thread, named {@code threadName}; it begins on the first item at once. */
    public Prefetcher(String threadName, Source<T> source) {
        this.source = source;
        this.thread = new Thread(this::work, threadName);
        thread.setDaemon(true);
        thread.start();
    }

    private void work() {
        while (true) {
            synchronized (lock) {
                while (ready != null && !closed) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        // Nothing here interrupts this thread; close() is what ends it.
                    }
                }
                if (closed) {
                    return;
                }
            }
            T item = null;
            Throwable error = null;
            try {
                item = source.next();
            } catch (Throwable t) {
                error = t;
            }
            synchronized (lock) {
                if (closed) {
                    return;
                }
                if (error != null) {
                    failure = error;
                } else if (item == null) {
                    ended = true;
                } else {
                    ready = item;
                }
                lock.notifyAll();
                if (error != null || item == null) {
                    return;
                }
            }
        }
    }

    /**
     * The next item, waiting for the thread if it is not made yet; null when the source has no more.
     * Rethrows what the source threw making this item.
     */
    public T next() {
        boolean interrupted = false;
        try {
            synchronized (lock) {
                if (closed) {
                    throw new IllegalStateException("next() after close()");
                }
                while (ready == null && failure == null && !ended) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        // As a read on this thread would, finish the item; the interrupt is kept.
                        interrupted = true;
                    }
                }
                if (ready != null) {
                    T item = ready;
                    ready = null;
                    lock.notifyAll();
                    return item;
                }
                if (failure != null) {
                    throw rethrow(failure);
                }
                return null;
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t); // Source.next declares no checked exception
    }

    /**
     * Stops the thread (an item under way is cancelled and dropped, as is one made and not taken),
     * waits for it to end, then closes the source. Idempotent.
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            ready = null;
            lock.notifyAll();
        }
        source.cancel();
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        try {
            source.close();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The thread's name, for tests and logs. */
    public String threadName() {
        return thread.getName();
    }
}
