/** Evaluation: scoring option letters by log-likelihood, accuracy and its reports. */
package io.medqa.eval;
