package io.medqa.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.jfree.chart.axis.NumberAxis;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LossChartTest {

    @TempDir
    Path tmp;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A synthetic metrics log: 200 steps of a decaying noisy loss, an eval every 50 steps, one skipped step. */
    static List<JsonNode> syntheticLog() {
        List<JsonNode> log = new ArrayList<>();
        java.util.Random rng = new java.util.Random(1);
        for (int step = 1; step <= 200; step++) {
            double loss = step == 77 ? Double.NaN : 0.6 + 5 * Math.exp(-step / 8.0) + 0.1 * rng.nextGaussian();
            log.add(JSON.createObjectNode().put("step", step).put("loss", loss).put("lr", 2e-4 * Math.min(1, step / 10.0))
                    .put("grad_norm", 1 + rng.nextDouble()));
            if (step % 50 == 0) {
                log.add(JSON.createObjectNode().put("step", step).put("eval_loss", 0.7 + 10.0 / step)
                        .put("eval_accuracy", 0.3 + step / 1000.0));
            }
        }
        return log;
    }

    @Test
    void rendersEveryPanelToAPngOfTheStatedSize() throws Exception {
        Path png = tmp.resolve("loss_curve.png");
        LossChart.write(syntheticLog(), "medqa training: test", png);
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img, "decodes as an image");
        assertEquals(LossChart.WIDTH, img.getWidth());
        assertEquals(LossChart.HEIGHT, img.getHeight());
        Set<Integer> colours = new HashSet<>();
        int evalRed = 0;
        int accuracyGreen = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y) & 0xffffff;
                colours.add(rgb);
                evalRed += rgb == 0xd62728 ? 1 : 0;
                accuracyGreen += rgb == 0x2ca02c ? 1 : 0;
            }
        }
        assertTrue(colours.size() > 20, "a chart, not a blank image: " + colours.size() + " colours");
        assertTrue(evalRed > 100, "eval-loss markers drawn: " + evalRed + " px");
        assertTrue(accuracyGreen > 50, "accuracy panel drawn: " + accuracyGreen + " px");
        assertTrue(Files.size(png) > 20_000);
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(png), files.toList(), "no temporary file left behind");
        }
    }

    /** tensorboard/webapp's classicSmoothing: last = last * w + (1 - w) * x; debiased by 1 - w^n. */
    @Test
    void smoothingIsTensorBoardsDebiasedEma() {
        double w = 0.6;
        double[] s = LossChart.smooth(new double[] {1, Double.NaN, 3, 2}, w);
        double l1 = 0.4 * 1;
        double l2 = l1 * w + 0.4 * 3;
        double l3 = l2 * w + 0.4 * 2;
        assertArrayEquals(new double[] {l1 / (1 - w), Double.NaN, l2 / (1 - w * w), l3 / (1 - w * w * w)}, s, 1e-12);
        assertEquals(1.0, s[0], 1e-12, "the first point is the value itself");
    }

    @Test
    void theLossAxisCutsOnlyASteepStart() {
        double[] steep = new double[100];
        double[] flat = new double[100];
        for (int i = 0; i < 100; i++) {
            steep[i] = i < 3 ? 6 : 1 - i / 200.0;
            flat[i] = 2 - i / 100.0;
        }
        NumberAxis axis = new NumberAxis();
        String note = LossChart.fitLossAxis(axis, steep, List.of());
        assertNotNull(note);
        assertTrue(axis.getUpperBound() < 1.1 && axis.getUpperBound() > 1, "cut just above the rest: " + axis.getUpperBound());
        assertNull(LossChart.fitLossAxis(new NumberAxis(), flat, List.of()));
    }
}
