package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import io.medqa.io.AtomicFiles;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.annotations.XYTextAnnotation;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnitSource;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.DatasetRenderingOrder;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.LegendTitle;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * loss_curve.png: the run at a glance, drawn from metrics.jsonl records. Panels share the step axis:
 * training loss (raw, faint, and smoothed) with the evaluation loss as large markers; validation
 * accuracy when the run measured it; learning rate; gradient norm (before clipping).
 *
 * <p>Smoothing is TensorBoard's scalar smoothing: an exponential moving average with bias correction,
 * s_i = (w s_{i-1} + (1 - w) x_i) / (1 - w^(i+1)) (tensorboard/webapp: {@code classicSmoothing}), with
 * the weight named in the legend. The loss axis ignores the first steps' transient when it would
 * squash the rest of the curve into a flat line, and says so.
 */
public final class LossChart {

    public static final int WIDTH = 1000;
    public static final int HEIGHT = 980;

    private static final Color RAW = new Color(0x9ec5e8);
    private static final Color SMOOTH = new Color(0x1f5fa8);
    private static final Color EVAL = new Color(0xd62728);
    private static final Color ACCURACY = new Color(0x2ca02c);
    private static final Color LR = new Color(0x9467bd);
    private static final Color NORM = new Color(0xe07b00);
    private static final Font LABEL = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
    private static final Font TICK = new Font(Font.SANS_SERIF, Font.PLAIN, 12);

    static {
        // Drawing needs no display; set before AWT starts, unless the user chose otherwise.
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private LossChart() {}

    /** Renders {@code records} (metrics.jsonl lines, in order) to {@code png}, atomically. */
    public static void write(List<JsonNode> records, String title, Path png) {
        JFreeChart chart = chart(records, title);
        AtomicFiles.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, WIDTH, HEIGHT));
    }

    /** The weight TensorBoard's slider would need for about 1/25 of the run to fill the averaging window. */
    static double smoothingWeight(int points) {
        return Math.max(0.6, Math.min(0.98, 1 - 25.0 / Math.max(points, 1)));
    }

    /** TensorBoard's debiased EMA; NaN (skipped steps) neither enters the average nor is smoothed. */
    static double[] smooth(double[] values, double weight) {
        double[] out = new double[values.length];
        double last = 0;
        int seen = 0;
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                out[i] = Double.NaN;
                continue;
            }
            last = last * weight + (1 - weight) * values[i];
            seen++;
            out[i] = last / (1 - Math.pow(weight, seen));
        }
        return out;
    }

    static JFreeChart chart(List<JsonNode> records, String title) {
        List<double[]> steps = new ArrayList<>();  // (step, loss, lr, grad_norm)
        List<double[]> evals = new ArrayList<>();  // (step, eval_loss, eval_accuracy or NaN)
        for (JsonNode n : records) {
            double step = n.path("step").asDouble();
            if (n.has("loss")) {
                steps.add(new double[] {step, number(n, "loss"), number(n, "lr"), number(n, "grad_norm")});
            } else if (n.has("eval_loss")) {
                evals.add(new double[] {step, number(n, "eval_loss"), number(n, "eval_accuracy")});
            }
        }
        double[] loss = steps.stream().mapToDouble(p -> p[1]).toArray();
        double weight = smoothingWeight(loss.length);
        double[] smoothed = smooth(loss, weight);

        XYSeries raw = new XYSeries("training loss", false, true);
        XYSeries ema = new XYSeries(String.format(Locale.ROOT, "smoothed (EMA, weight %.2f)", weight), false, true);
        XYSeries lr = new XYSeries("learning rate", false, true);
        XYSeries norm = new XYSeries("gradient norm (before clipping)", false, true);
        for (int i = 0; i < steps.size(); i++) {
            double[] p = steps.get(i);
            raw.add(p[0], finiteOrNull(p[1]));
            ema.add(p[0], finiteOrNull(smoothed[i]));
            lr.add(p[0], finiteOrNull(p[2]));
            norm.add(p[0], finiteOrNull(p[3]));
        }
        XYSeries evalLoss = new XYSeries("evaluation loss", false, true);
        XYSeries accuracy = new XYSeries("validation accuracy", false, true);
        for (double[] e : evals) {
            evalLoss.add(e[0], finiteOrNull(e[1]));
            if (Double.isFinite(e[2])) {
                accuracy.add(e[0], e[2]);
            }
        }

        NumberAxis stepAxis = new NumberAxis("optimizer step");
        stepAxis.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        stepAxis.setAutoRangeIncludesZero(false);
        stepAxis.setLowerMargin(0.01);
        stepAxis.setUpperMargin(0.01);
        style(stepAxis);
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(stepAxis);
        plot.setGap(14);

        XYPlot lossPlot = panel(collection(raw, ema), "loss (mean NLL per answer token)",
                lines(new Color[] {RAW, SMOOTH}, new float[] {1.2f, 2.4f}));
        if (evalLoss.getItemCount() > 0) {
            lossPlot.setDataset(1, collection(evalLoss));
            lossPlot.setRenderer(1, markers(EVAL, 11));
            lossPlot.setDatasetRenderingOrder(DatasetRenderingOrder.FORWARD);
        }
        String clipped = fitLossAxis((NumberAxis) lossPlot.getRangeAxis(), loss, evals);
        plot.add(lossPlot, 5);

        if (accuracy.getItemCount() > 0) {
            XYPlot accPlot = panel(collection(accuracy), "validation accuracy", markers(ACCURACY, 9));
            NumberAxis axis = (NumberAxis) accPlot.getRangeAxis();
            axis.setNumberFormatOverride(new DecimalFormat("0%"));
            axis.setAutoRangeIncludesZero(false);
            axis.setRangeWithMargins(range(accuracy, 0.0, 1.0));
            markBest(accPlot, accuracy);
            plot.add(accPlot, 2);
        }

        XYPlot lrPlot = panel(collection(lr), "learning rate", lines(new Color[] {LR}, new float[] {2f}));
        NumberAxis lrAxis = (NumberAxis) lrPlot.getRangeAxis();
        lrAxis.setStandardTickUnits(new NumberTickUnitSource(false, new DecimalFormat("0.0##E0")));
        plot.add(lrPlot, 2);

        XYPlot normPlot = panel(collection(norm), "gradient norm", lines(new Color[] {NORM}, new float[] {1.4f}));
        ((NumberAxis) normPlot.getRangeAxis()).setAutoRangeIncludesZero(true);
        plot.add(normPlot, 2);

        JFreeChart chart = new JFreeChart(title, new Font(Font.SANS_SERIF, Font.BOLD, 17), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(8, 8, 8, 16));
        String sub = String.format(Locale.ROOT, "%d steps", steps.size());
        if (evals.size() > 0) {
            sub += String.format(Locale.ROOT, ", %d evaluation%s", evals.size(), evals.size() == 1 ? "" : "s");
        }
        if (clipped != null) {
            sub += "; " + clipped;
        }
        chart.addSubtitle(new TextTitle(sub, LABEL));
        LegendTitle legend = chart.getLegend();
        legend.setPosition(RectangleEdge.TOP);
        legend.setFrame(BlockBorder.NONE);
        legend.setItemFont(LABEL);
        return chart;
    }

    /**
     * Upper bound at the loss after the first twentieth of the run (plus the eval losses) when the
     * early steps span more than twice the rest: a curve that falls from 6 to 0.5 in ten steps otherwise
     * leaves the other 95% of the run as a flat line at the bottom.
     *
     * @return a note for the subtitle when early values are off the axis, else null
     */
    static String fitLossAxis(NumberAxis axis, double[] loss, List<double[]> evals) {
        double[] finite = Arrays.stream(loss).filter(Double::isFinite).toArray();
        if (finite.length < 10) {
            return null;
        }
        int skip = Math.max(3, finite.length / 20);
        double tailMax = Double.NEGATIVE_INFINITY;
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < finite.length; i++) {
            if (i >= skip) {
                tailMax = Math.max(tailMax, finite[i]);
            }
            min = Math.min(min, finite[i]);
            max = Math.max(max, finite[i]);
        }
        for (double[] e : evals) {
            if (Double.isFinite(e[1])) {
                tailMax = Math.max(tailMax, e[1]);
                min = Math.min(min, e[1]);
            }
        }
        if (max - min <= 2 * (tailMax - min)) {
            return null;
        }
        double span = tailMax - min;
        axis.setRange(Math.max(0, min - 0.05 * span), tailMax + 0.08 * span);
        return String.format(Locale.ROOT, "loss axis cut at %.3g: the first steps reach %.3g", tailMax + 0.08 * span, max);
    }

    private static void markBest(XYPlot plot, XYSeries accuracy) {
        int best = 0;
        for (int i = 1; i < accuracy.getItemCount(); i++) {
            if (accuracy.getY(i).doubleValue() > accuracy.getY(best).doubleValue()) {
                best = i;
            }
        }
        double x = accuracy.getX(best).doubleValue();
        double y = accuracy.getY(best).doubleValue();
        XYTextAnnotation note = new XYTextAnnotation(
                String.format(Locale.ROOT, "best %.1f%% at step %d", 100 * y, Math.round(x)), x, y);
        note.setFont(TICK);
        note.setPaint(ACCURACY.darker());
        note.setTextAnchor(x > accuracy.getMaxX() * 0.7 ? TextAnchor.BOTTOM_RIGHT : TextAnchor.BOTTOM_LEFT);
        plot.addAnnotation(note);
    }

    private static org.jfree.data.Range range(XYSeries s, double floor, double ceiling) {
        double lo = s.getMinY();
        double hi = s.getMaxY();
        if (hi - lo < 0.05) {
            lo -= 0.025;
            hi += 0.025;
        }
        return new org.jfree.data.Range(Math.max(floor, lo), Math.min(ceiling, hi + 0.06 * (hi - lo)));
    }

    private static XYPlot panel(XYSeriesCollection data, String label, XYLineAndShapeRenderer renderer) {
        NumberAxis axis = new NumberAxis(label);
        axis.setAutoRangeIncludesZero(false);
        style(axis);
        XYPlot p = new XYPlot(data, null, axis, renderer);
        p.setBackgroundPaint(Color.WHITE);
        p.setDomainGridlinePaint(new Color(0xd0d0d0));
        p.setRangeGridlinePaint(new Color(0xd0d0d0));
        p.setDomainGridlineStroke(new BasicStroke(0.8f));
        p.setRangeGridlineStroke(new BasicStroke(0.8f));
        p.setOutlinePaint(new Color(0x808080));
        return p;
    }

    private static void style(NumberAxis axis) {
        axis.setLabelFont(LABEL);
        axis.setTickLabelFont(TICK);
    }

    private static XYLineAndShapeRenderer lines(Color[] colors, float[] widths) {
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        for (int i = 0; i < colors.length; i++) {
            r.setSeriesPaint(i, colors[i]);
            r.setSeriesStroke(i, new BasicStroke(widths[i], BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        }
        return r;
    }

    /** Filled circles with a white rim, joined by a thin line: visible on top of a dense curve. */
    private static XYLineAndShapeRenderer markers(Paint color, double size) {
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
        Shape dot = new Ellipse2D.Double(-size / 2, -size / 2, size, size);
        r.setSeriesShape(0, dot);
        r.setSeriesPaint(0, color);
        r.setSeriesStroke(0, new BasicStroke(1.2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND, 1f,
                new float[] {4f, 4f}, 0f));
        r.setUseOutlinePaint(true);
        r.setSeriesOutlinePaint(0, Color.WHITE);
        r.setSeriesOutlineStroke(0, new BasicStroke(1.5f));
        r.setDrawOutlines(true);
        return r;
    }

    private static XYSeriesCollection collection(XYSeries... series) {
        XYSeriesCollection c = new XYSeriesCollection();
        for (XYSeries s : series) {
            c.addSeries(s);
        }
        return c;
    }

    private static double number(JsonNode n, String key) {
        JsonNode v = n.get(key);
        return v != null && v.isNumber() ? v.asDouble() : Double.NaN;
    }

    private static Double finiteOrNull(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
