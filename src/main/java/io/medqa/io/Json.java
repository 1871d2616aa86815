package io.medqa.io;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import io.medqa.MedqaException;

/** Jackson's parse errors as one line: the problem and where, without the source dump it appends. */
public final class Json {

    private Json() {}

    /** "Unexpected character ('x' ...) at line 3, column 7". */
    public static String problem(JsonProcessingException e) {
        String what = MedqaException.firstLine(e.getOriginalMessage());
        JsonLocation at = e.getLocation();
        if (at != null && at.getLineNr() > 0) {
            what += " at line " + at.getLineNr() + ", column " + at.getColumnNr();
        }
        return what;
    }
}
