"""Every sentence the bot says in English. Keys and placeholders match ``id.py``."""

MESSAGES: dict[str, str] = {
    # help
    "help": (
        "🎨 I'm Pelukis: I paint pictures from your words, in Indonesian or English.\n"
        "\n"
        "/generate PROMPT (or /gambar) — paint a picture\n"
        "   options: --seed N  --cfg X  --steps N  --no NEGATIVE  --style NAME  --ar W:H\n"
        "/style — the styles; /style NAME picks one for this chat\n"
        "/seed, /cfg, /steps, /negative — your own defaults\n"
        "/lang id|en — my language; /raw on|off — translate your prompts or not\n"
        "/settings — what I'll use for your next picture\n"
        "/queue — what's waiting; /cancel — drop your waiting pictures\n"
        "\n"
        "Example: /generate a cute cat at a market --style kancil --seed 42"
    ),
    "unknown_command": "I don't know /{command}. Type /help to see what I can do.",
    "not_a_command": "Send /generate followed by what you'd like me to paint, or /help.",
    # generate
    "generate_usage": (
        "Tell me what to paint, e.g. /generate a cat wearing a batik shirt. "
        "Options: --seed N --cfg X --steps N --no NEGATIVE --style NAME --ar W:H"
    ),
    "prompt_too_long": "That prompt is too long: {length} characters, the limit is {limit}.",
    "negative_too_long": "The negative prompt is too long: {length} characters, the limit is {limit}.",
    "option_unknown": "I don't know the option {option}. Options: --seed --cfg --steps --no --style --ar --raw",
    "option_needs_value": "The option {option} needs a value, e.g. {example}.",
    "not_a_number": "“{value}” isn't a number. {usage}",
    "seed_range": "The seed must be a whole number from 0 to {max}, not {value}.",
    "cfg_range": "The guidance scale (cfg) must be between {min} and {max}, not {value}.",
    "steps_range": "The number of steps must be from {min} to {max}, not {value}.",
    "ar_invalid": "The aspect ratio must look like 16:9 (width:height), not “{value}”.",
    "ar_range": "That aspect ratio is too extreme: {value}. The widest I paint is {max}:1.",
    "queue_full": "You already have {count} pictures waiting (the limit is {limit}). Try again when one is done.",
    "queued": "Queued: #{position} in line.",
    "queued_next": "Queued: you're next.",
    "painting": "Painting…",
    "progress": "Painting… {percent}%",
    "failed": "Sorry, I couldn't paint that one: {reason}",
    "failed_retries": "Sorry, the painter kept failing on this picture. Please try again later.",
    "failed_invalid": "the request was refused ({detail})",
    "cancelled": "Cancelled.",
    "engine_starting": "The painter is warming up; your picture will start shortly.",
    "engine_restarting": "The painter is restarting; your picture is safe in the queue.",
    # style
    "style_header": "Styles (current one marked ✅):",
    "style_line": "{mark} {name} — {title}: {description}",
    "style_none_line": "{mark} none — base model, no style",
    "style_usage": "Pick one with /style NAME, or /style none for the base model.",
    "style_unknown": "There's no style called “{name}”. Styles: {names}, none.",
    "style_set": "This chat's style is now {title}.",
    "style_cleared": "This chat now uses the base model, without a style.",
    "style_moderators_only": "Only the group's admins can change its style.",
    # user settings
    "seed_show": "Your seed: {seed}. Set it with /seed N or /seed random.",
    "seed_random_word": "random",
    "seed_set": "Your seed is now {seed}: the same prompt will give the same picture.",
    "seed_random_set": "Your seed is random again: every picture will be new.",
    "cfg_show": "Your guidance scale (cfg): {cfg}. Set it with /cfg X ({min}–{max}).",
    "cfg_set": "Your guidance scale (cfg) is now {cfg}.",
    "steps_show": "Your steps: {steps}. Set them with /steps N ({min}–{max}).",
    "steps_set": "Your steps are now {steps}.",
    "negative_show": "Your negative prompt: {negative}. Set it with /negative TEXT or clear it with /negative none.",
    "negative_empty": "(none)",
    "negative_set": "Your negative prompt is now: {negative}",
    "negative_cleared": "Your negative prompt is cleared.",
    "lang_show": "I'm speaking English. Switch with /lang id or /lang en.",
    "lang_set": "Alright, I'll speak English from now on.",
    "lang_usage": "Choose id (Bahasa Indonesia) or en (English): /lang id",
    "raw_on": "From now on your prompts go to the painter exactly as you write them, untranslated.",
    "raw_off": "From now on I'll translate your Indonesian prompts into English for the painter.",
    "raw_show_on": "Your prompts go untranslated. /raw off to have them translated.",
    "raw_show_off": "I translate your Indonesian prompts into English. /raw on to send them as written.",
    "style_default": "the style's default",
    "settings": (
        "Your next picture:\n"
        "style: {style}\n"
        "seed: {seed}\n"
        "cfg: {cfg}\n"
        "steps: {steps}\n"
        "negative: {negative}\n"
        "size: {width}×{height}\n"
        "language: {language}"
    ),
    # queue
    "queue_empty": "Nothing is waiting. Send /generate to paint something.",
    "queue_header": "In line ({count}):",
    "queue_line": "#{position} {user}: {prompt}",
    "queue_running": "▶ {user}: {prompt}",
    "cancel_none": "You have no pictures waiting.",
    "cancel_done": "Cancelled {count} of your waiting pictures.",
    # caption
    "cap_prompt": "Prompt",
    "cap_english": "English",
    "cap_offline": "offline translation",
    "cap_style": "Style",
    "cap_seed": "Seed",
    "cap_cfg": "CFG",
    "cap_steps": "Steps",
    "cap_clip": "CLIP",
    "cap_test_model": "test model",
    "cap_none_style": "none",
    # command menu (Telegram setMyCommands, Discord slash command descriptions)
    "cmd_generate": "Paint a picture from your words",
    "cmd_style": "List the styles or pick one for this chat",
    "cmd_seed": "Show or fix your seed",
    "cmd_cfg": "Show or set your guidance scale",
    "cmd_steps": "Show or set your number of steps",
    "cmd_negative": "Show or set your negative prompt",
    "cmd_lang": "Choose my language (id or en)",
    "cmd_settings": "What your next picture will use",
    "cmd_queue": "What's waiting to be painted",
    "cmd_cancel": "Cancel your waiting pictures",
    "cmd_help": "What I do and how to use me",
    "error_generic": "Sorry, something went wrong on my side. Please try again.",
    # buttons under an image
    "btn_reroll": "🎲 Reroll",
    "btn_keep_seed": "📌 Keep seed",
    "btn_file": "📄 Original PNG",
    "btn_delete": "🗑 Delete",
    "job_gone": "That picture is no longer here.",
    "delete_not_allowed": "Only the person who asked for it, or an admin, can delete this picture.",
    "deleted": "Deleted.",
    # console
    "console_welcome": "Pelukis console chat — type /help, Ctrl-D to leave.",
    "console_saved": "Saved: {path}",
}
