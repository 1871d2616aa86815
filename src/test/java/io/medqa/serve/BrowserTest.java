package io.medqa.serve;

import io.medqa.testing.TinyRun;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The page in a real browser (Debian's chromium and chromium-driver, headless) at a phone's width: pick a
 * bundled example, ask, wait for the streamed explanation, and keep a screenshot in target/serve-page.png.
 * Without Chromium the test fails, so that CI cannot pass without it; set MEDQA_BROWSER_TESTS=optional (or
 * -Dmedqa.browserTests=optional) to skip it instead on a machine without a browser.
 */
class BrowserTest {

    static final Path CHROMIUM = Path.of(System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium"));
    static final Path CHROMEDRIVER = Path.of(System.getenv().getOrDefault("CHROMEDRIVER", "/usr/bin/chromedriver"));

    @TempDir
    Path tmp;

    @Test
    void pageAnswersAStreamedQuestionAtPhoneWidth() throws Exception {
        if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(CHROMEDRIVER)) {
            String why = "no browser: " + CHROMIUM + " or " + CHROMEDRIVER + " is missing (apt-get install -y chromium "
                    + "chromium-driver, as .ci/run does; or set MEDQA_BROWSER_TESTS=optional to skip this test)";
            boolean optional = "optional".equals(System.getenv("MEDQA_BROWSER_TESTS"))
                    || "optional".equals(System.getProperty("medqa.browserTests"));
            if (!optional) {
                fail(why);
            }
            Assumptions.abort(why);
        }
        // A real run.json, but a step too small to change the random model, which writes on past "Explanation:"
        // (a few real steps teach the tiny model to stop at once, and the full demo takes a minute to train).
        TinyRun run = new TinyRun(tmp.resolve("run"), 8);
        Path adapter = ServeFixture.trainAdapter(run, 1, 1e-7);
        try (ServeFixture serve = new ServeFixture(run, adapter, ServeFixture.Settings.defaults(), null)) {
            ChromeOptions options = new ChromeOptions();
            options.setBinary(CHROMIUM.toFile());
            // The network here is closed: without the background flags Chromium keeps trying to reach Google.
            options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--user-data-dir=" + Files.createDirectories(tmp.resolve("profile")),
                    "--window-size=390,1700");
            ChromeDriverService service = new ChromeDriverService.Builder()
                    .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
            WebDriver driver = new ChromeDriver(service, options);
            try {
                driver.manage().window().setSize(new Dimension(390, 1700));
                driver.get(serve.base + "/");
                WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(60));
                assertTrue(driver.findElement(By.id("notice")).getText().contains("not medical advice"));
                wait.until(d -> d.findElement(By.id("model-info")).getText().contains("sha256"));
                wait.until(d -> d.findElements(By.cssSelector("#example option")).size() > 1);
                new Select(driver.findElement(By.id("example"))).selectByIndex(1);
                assertEquals(4, driver.findElements(By.cssSelector("#options input")).size());
                driver.findElement(By.id("submit")).click();
                try {
                    wait.until(d -> d.findElement(By.id("status")).getText().startsWith("Done"));
                } catch (org.openqa.selenium.TimeoutException e) {
                    screenshot(driver);
                    fail("the answer never finished; the page says: " + driver.findElement(By.id("status")).getText()
                            + "; explanation: " + driver.findElement(By.id("explanation")).getText());
                }

                List<WebElement> bars = driver.findElements(By.cssSelector("#bars .bar"));
                assertEquals(4, bars.size());
                String letter = driver.findElement(By.id("letter")).getText();
                assertTrue(letter.matches("[A-D]"), letter);
                assertEquals(1, driver.findElements(By.cssSelector("#bars .bar.best")).size());
                String explanation = driver.findElement(By.id("explanation")).getText();
                System.out.println("browser test: answer " + driver.findElement(By.id("letter")).getText() + ", explanation: "
                        + explanation);
                assertFalse(explanation.isBlank(), "no explanation streamed in");
                Long scrollWidth = (Long) ((org.openqa.selenium.JavascriptExecutor) driver)
                        .executeScript("return document.documentElement.scrollWidth");
                assertTrue(scrollWidth <= 390, "the page is wider than the phone: " + scrollWidth + " px");
                JsonCheck.streamedAtLeastOnce(serve);

                screenshot(driver);
            } finally {
                driver.quit();
            }
        }
    }

    static void screenshot(WebDriver driver) throws java.io.IOException {
        File shot = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
        Path target = Path.of("target", "serve-page.png");
        Files.createDirectories(target.getParent());
        Files.copy(shot.toPath(), target, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The page asked through the streaming API (and the server generated for it). */
    static final class JsonCheck {
        static void streamedAtLeastOnce(ServeFixture serve) throws Exception {
            assertTrue(serve.health().get("completions").asInt() >= 1);
        }
    }
}
