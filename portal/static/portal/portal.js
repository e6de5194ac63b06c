/* The console's small behaviours: the admin's time zone, the dashboard's health panel, the
   profile form's dependent fields, and live progress of device sessions (a WebSocket the server
   pushes to, portal/live.py). No polling and no page reloads. */
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

    // --- live progress ---------------------------------------------------------------------------
    // The server pushes each session's start, steps and end (portal/consumers.py). Text from the
    // server goes into the page as text only, never as HTML.

    function openLive(path, query, onEvent, stateElement) {
        var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path + query;
        var delay = 1000;
        function state(text, live) {
            if (stateElement) {
                stateElement.hidden = false;
                stateElement.textContent = text;
                stateElement.classList.toggle("portal-live-off", !live);
            }
        }
        function connect() {
            var socket = new WebSocket(url);
            socket.addEventListener("open", function () {
                delay = 1000;
                state("● live", true);
            });
            socket.addEventListener("message", function (message) {
                var event;
                try {
                    event = JSON.parse(message.data);
                } catch (error) {
                    return;
                }
                onEvent(event);
            });
            socket.addEventListener("close", function (closed) {
                if (closed.code === 4403) {
                    state("not live", false);
                    return;  // refused: reconnecting would be refused again
                }
                state("reconnecting…", false);
                setTimeout(connect, delay);  // the socket again, not the page
                delay = Math.min(delay * 2, 30000);
            });
        }
        connect();
    }

    function clockTime(iso, zone) {
        var options = {hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"};
        if (zone) {
            options.timeZone = zone;
        }
        try {
            return new Intl.DateTimeFormat("en-GB", options).format(new Date(iso));
        } catch (error) {
            return new Intl.DateTimeFormat("en-GB", {hour: "2-digit", minute: "2-digit", second: "2-digit"}).format(new Date(iso));
        }
    }

    function durationText(seconds) {
        if (!(seconds >= 0)) {
            return "";
        }
        if (seconds < 10) {
            return seconds.toFixed(1) + " s";
        }
        if (seconds < 60) {
            return Math.round(seconds) + " s";
        }
        var whole = Math.round(seconds);
        return Math.floor(whole / 60) + " min " + String(whole % 60).padStart(2, "0") + " s";
    }

    function cell(row, text, className) {
        var td = document.createElement("td");
        if (className) {
            td.className = className;
        }
        if (text instanceof Node) {
            td.appendChild(text);
        } else {
            td.textContent = text;
        }
        row.appendChild(td);
        return td;
    }

    function element(tag, text, className) {
        var node = document.createElement(tag);
        node.textContent = text;
        if (className) {
            node.className = className;
        }
        return node;
    }

    function setChip(chip, outcome, label) {
        chip.className = "portal-chip portal-chip-" + outcome;
        chip.textContent = label;
    }

    function devicePage() {
        var page = document.querySelector(".portal-device[data-live-device]");
        if (!page) {
            return;
        }
        var zone = page.dataset.timeZone;
        var runs = document.getElementById("portal-runs");
        var template = document.getElementById("portal-run-template");
        var startedAt = null;  // of the session running now, from its "started" event

        function runItem(event) {
            var item = runs.querySelector("li[data-run-id='" + event.run + "']");
            if (item) {
                return item;
            }
            item = template.content.firstElementChild.cloneNode(true);
            item.dataset.runId = String(event.run);
            item.dataset.startedAt = startedAt || event.at;
            item.querySelector("[data-run-action]").textContent = event.action;
            item.querySelector("[data-run-profile]").textContent = event.profile || "—";
            item.querySelector("[data-run-started]").textContent = clockTime(item.dataset.startedAt, zone);
            var link = item.querySelector("[data-run-link]");
            link.href = page.dataset.runUrl + event.run + "/change/";
            link.textContent = "run #" + event.run;
            var empty = runs.querySelector("[data-no-runs]");
            if (empty) {
                empty.remove();
            }
            runs.insertBefore(item, runs.firstChild);
            return item;
        }

        function addStep(event) {
            var body = runItem(event).querySelector("[data-run-steps]");
            if (body.querySelector("tr[data-position='" + event.position + "']")) {
                return;
            }
            var rows = body.querySelectorAll("tr[data-ended-at]");
            var previous = rows.length ? rows[rows.length - 1].dataset.endedAt : runItem(event).dataset.startedAt;
            var row = document.createElement("tr");
            row.className = "portal-step-" + event.outcome + " portal-step-new";
            row.dataset.position = String(event.position);
            row.dataset.endedAt = event.at;
            cell(row, String(event.position), "portal-num");
            cell(row, element("code", event.name));
            cell(row, element("span", event.outcomeLabel, "portal-chip portal-chip-" + event.outcome));
            cell(row, clockTime(event.at, zone), "portal-nowrap").title = event.at;
            cell(row, durationText((new Date(event.at) - new Date(previous)) / 1000), "portal-num portal-nowrap");
            cell(row, event.detail || "", "portal-detail");
            body.appendChild(row);
        }

        // The state, facts and actions as the registry has them once a session has ended: one
        // request per ended session (what the device became is the server's to say, not this
        // script's guess), never a timer.
        function refreshState() {
            fetch(window.location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}})
                .then(function (response) {
                    if (!response.ok) {
                        throw new Error("HTTP " + response.status);
                    }
                    return response.text();
                })
                .then(function (html) {
                    var fresh = new DOMParser().parseFromString(html, "text/html");
                    page.querySelectorAll("[data-device-refresh]").forEach(function (part) {
                        var replacement = fresh.querySelector("[data-device-refresh='" + part.dataset.deviceRefresh + "']");
                        if (replacement) {
                            part.replaceWith(document.importNode(replacement, true));
                        }
                    });
                })
                .catch(function () {
                    // The timeline is already right; the cards stay as they were until a reload.
                });
        }

        function endRun(event) {
            var item = runItem(event);
            var outcome = event.outcome === "success" ? "success" : "failure";
            item.className = "portal-run portal-run-" + outcome;
            setChip(item.querySelector("[data-run-outcome]"), outcome, outcome === "success" ? "Success" : "Failure");
            item.querySelector("[data-run-duration]").textContent = durationText(event.seconds);
            var cause = item.querySelector("[data-run-cause]");
            cause.textContent = "";
            if (outcome === "failure") {
                if (event.failedStep) {
                    cause.appendChild(document.createTextNode("Failed at "));
                    cause.appendChild(element("code", event.failedStep));
                    cause.appendChild(document.createTextNode(": "));
                }
                cause.appendChild(document.createTextNode(event.cause || event.outcomeLabel));
                cause.hidden = false;
            }
            refreshState();
        }

        openLive(page.dataset.livePath, "?device=" + encodeURIComponent(page.dataset.liveDevice), function (event) {
            if (event.kind === "started") {
                startedAt = event.at;
            } else if (event.run === null || event.run === undefined) {
                return;  // refused before the registry recorded a run: nothing on this page to update
            } else if (event.kind === "step") {
                addStep(event);
            } else if (event.kind === "ended") {
                endRun(event);
            }
        }, page.querySelector("[data-live-state]"));
    }

    function dashboardLive() {
        var card = document.getElementById("portal-live");
        if (!card) {
            return;
        }
        var list = card.querySelector("[data-live-sessions]");
        var shown = 8;

        function sessionItem(event) {
            var item = list.querySelector("li[data-session='" + CSS.escape(event.guid) + "']");
            if (!item) {
                item = document.createElement("li");
                item.dataset.session = event.guid;
                var link = element("a", event.guid);
                link.href = card.dataset.deviceUrl + "?q=" + encodeURIComponent(event.guid);
                item.appendChild(link);
                item.appendChild(element("span", "In progress", "portal-chip portal-chip-in_progress"));
                item.appendChild(element("span", "", "portal-muted"));
                var empty = list.querySelector("[data-live-empty]");
                if (empty) {
                    empty.remove();
                }
                list.insertBefore(item, list.firstChild);
                while (list.children.length > shown) {
                    list.removeChild(list.lastChild);
                }
            }
            return item;
        }

        function count(event) {
            if (event.action !== "activate" || event.run === null || event.run === undefined) {
                return;  // the figures count recorded activations only
            }
            var which = event.outcome === "success" ? "succeeded" : "failed";
            document.querySelectorAll("[data-activations]").forEach(function (figure) {
                var total = figure.querySelector("[data-figure]");
                var part = figure.querySelector("[data-count='" + which + "']");
                total.textContent = String(parseInt(total.textContent, 10) + 1);
                part.textContent = String(parseInt(part.textContent, 10) + 1);
                figure.querySelector("[data-bar='" + which + "']").style.flexGrow = part.textContent;
                if (which === "failed") {
                    figure.querySelector("[data-failed-note]").classList.add("portal-bad");
                }
            });
        }

        var query = "?tenant=" + encodeURIComponent(card.dataset.liveTenant || "");
        openLive(card.dataset.livePath, query, function (event) {
            var item = sessionItem(event);
            var note = item.querySelector(".portal-muted");
            var chip = item.querySelector(".portal-chip");
            if (event.kind === "started") {
                setChip(chip, "in_progress", "In progress");
                note.textContent = event.action + (event.profile ? " · " + event.profile : "");
            } else if (event.kind === "step") {
                note.textContent = event.action + " · step " + event.position + ": " + event.name;
            } else if (event.kind === "ended") {
                var outcome = event.outcome === "success" ? "success" : "failure";
                setChip(chip, outcome, event.outcomeLabel);
                note.textContent = event.action + " · " + durationText(event.seconds) +
                    (event.cause ? " · " + (event.failedStep ? event.failedStep + ": " : "") + event.cause : "");
                count(event);
            }
        }, card.querySelector("[data-live-state]"));
    }

    document.addEventListener("formset:added", nextPriority);
    document.addEventListener("DOMContentLoaded", function () {
        loadHealth();
        submitOnChange();
        profileForm();
        devicePage();
        dashboardLive();
    });
})();
