/* The console's small behaviours: the admin's time zone, the dashboard's health panel, and the
   profile form's dependent fields. No polling and no page reloads. */
"use strict";

(function () {
    // Portal pages show times in the browser's zone: the server reads this cookie
    // (portal/timezones.py). It is set here, before login, so the first page after it is right.
    var zone = "";
    try {
        zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
        zone = "";
    }
    // IANA names are cookie-safe as they are ("Europe/Berlin"); the server reads the cookie verbatim.
    if (/^[A-Za-z0-9_+\-\/]+$/.test(zone) && document.cookie.indexOf("rps_tz=" + zone) === -1) {
        document.cookie = "rps_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax" +
            (location.protocol === "https:" ? "; Secure" : "");
    }

    function loadHealth() {
        var panel = document.getElementById("portal-health");
        if (!panel) {
            return;
        }
        fetch(panel.dataset.healthUrl, {credentials: "same-origin", headers: {"Accept": "text/html"}})
            .then(function (response) {
                if (!response.ok) {
                    throw new Error("HTTP " + response.status);
                }
                return response.text();
            })
            .then(function (html) {
                panel.innerHTML = html;  // the server's own rendered, escaped fragment
                panel.dataset.loaded = "true";
            })
            .catch(function (error) {
                panel.textContent = "The health check could not be loaded (" + error.message + ").";
                panel.dataset.loaded = "true";
            });
    }

    function submitOnChange() {
        document.querySelectorAll("[data-submit-on-change]").forEach(function (select) {
            select.addEventListener("change", function () {
                select.form.submit();
            });
        });
    }

    // A password is either typed or generated per device; MEBx belongs to admin control mode.
    function profileForm() {
        var form = document.getElementById("profile_form");
        if (!form) {
            return;
        }
        function row(name) {
            return form.querySelector(".form-row.field-" + name);
        }
        function setEnabled(name, enabled) {
            var input = form.querySelector("#id_" + name);
            var line = row(name);
            if (input) {
                input.disabled = !enabled;
            }
            if (line) {
                line.classList.toggle("portal-disabled", !enabled);
            }
        }
        function checked(id) {
            var box = form.querySelector(id);
            return box ? box.checked : false;
        }
        function activation() {
            var selected = form.querySelector("input[name=activation]:checked");
            return selected ? selected.value : "";
        }
        function update() {
            var acm = activation() !== "ccmactivate";
            setEnabled("amt_password", !checked("#id_generate_random_password"));
            setEnabled("generate_random_mebx_password", acm);
            setEnabled("mebx_password", acm && !checked("#id_generate_random_mebx_password"));
        }
        form.addEventListener("change", update);
        update();
    }

    // A Wi-Fi or proxy row added in the form gets the next free priority.
    function nextPriority(event) {
        var row = event.target;
        var group = row.closest(".portal-ordered");
        var input = row.querySelector("td.field-priority input");
        if (!group || !input || input.value) {
            return;
        }
        var highest = 0;
        group.querySelectorAll("tr.form-row:not(.empty-form) td.field-priority input").forEach(function (other) {
            var value = parseInt(other.value, 10);
            if (other !== input && !isNaN(value) && value > highest) {
                highest = value;
            }
        });
        input.value = String(highest + 1);
    }

    document.addEventListener("formset:added", nextPriority);
    document.addEventListener("DOMContentLoaded", function () {
        loadHealth();
        submitOnChange();
        profileForm();
    });
})();
