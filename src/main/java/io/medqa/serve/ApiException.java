package io.medqa.serve;

/**
 * A request the API refuses, answered with {@code status} and OpenAI's error body
 * {@code {"error": {"message", "type", "param", "code"}}}; {@code param} names the offending field.
 */
final class ApiException extends RuntimeException {

    final int status;
    final String param;

    ApiException(int status, String param, String message) {
        super(message, null, false, false);
        this.status = status;
        this.param = param;
    }

    String type() {
        return switch (status) {
            case 401 -> "authentication_error";
            case 503 -> "server_busy";
            default -> status >= 500 ? "server_error" : "invalid_request_error";
        };
    }

    static ApiException badField(String field, String message) {
        return new ApiException(400, field, field + ": " + message);
    }
}
